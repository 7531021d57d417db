// Deterministic reductions for a thread pool: parameter gradients that sum over
// rows are first summed per fixed-size chunk of rows (each chunk owns a partial
// buffer), then the partials are added in chunk order. Neither step depends on how
// many threads run it.
import { layernormBackward } from './layernorm';

// LayerNorm backward over row chunks [chunkStart, chunkEnd) of chunkRows rows each.
// dinp += as layernormBackward; partials [chunks, 2C]: per chunk dweight | dbias,
// overwritten. hasBias = 0 leaves the dbias half untouched.
export function layernormBackwardChunks(
  dinp: usize, partials: usize, dout: usize, inp: usize, weight: usize, mean: usize, rstd: usize,
  C: i32, rows: i32, chunkRows: i32, hasBias: i32, chunkStart: i32, chunkEnd: i32,
): void {
  const partBytes = <usize>(2 * C) << 2;
  for (let c = chunkStart; c < chunkEnd; c++) {
    const part = partials + <usize>c * partBytes;
    memory.fill(part, 0, partBytes);
    const r0 = c * chunkRows;
    const r1 = min(rows, r0 + chunkRows);
    layernormBackward(dinp, part, hasBias ? part + (<usize>C << 2) : 0, dout, inp, weight, mean, rstd, C, r0, r1);
  }
}

// dst[j] += sum over c = 0..chunks-1 of partials[c * stride + j], in c order, for j in [colStart, colEnd)
export function sumChunks(dst: usize, partials: usize, chunks: i32, stride: i32, colStart: i32, colEnd: i32): void {
  const strideBytes = <usize>stride << 2;
  for (let j = colStart; j < colEnd; j++) {
    let s: f32 = 0;
    let p = partials + (<usize>j << 2);
    for (let c = 0; c < chunks; c++) {
      s += load<f32>(p);
      p += strideBytes;
    }
    const d = dst + (<usize>j << 2);
    store<f32>(d, load<f32>(d) + s);
  }
}
