// Deterministic reductions for a thread pool: parameter gradients that sum over
// rows are first summed per fixed-size chunk of rows (each chunk owns a partial
// buffer, see layernormBackwardChunks), then the partials are added in chunk order
// here. Neither step depends on how many threads run it.

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
