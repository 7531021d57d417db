// Token + learned position embedding. ids [B*T] (i32), wte [V, C], wpe [maxT, C],
// out [B*T, C]. Forward ranges over rows of out.

export function embeddingForward(out: usize, ids: usize, wte: usize, wpe: usize, T: i32, C: i32, rowStart: i32, rowEnd: i32): void {
  const rowBytes = <usize>C << 2;
  const c4 = C & ~3;
  for (let i = rowStart; i < rowEnd; i++) {
    const tok = wte + <usize>load<i32>(ids + (<usize>i << 2)) * rowBytes;
    const pos = wpe + <usize>(i % T) * rowBytes;
    const y = out + <usize>i * rowBytes;
    for (let j = 0; j < c4; j += 4) {
      const o = <usize>j << 2;
      v128.store(y + o, f32x4.add(v128.load(tok + o), v128.load(pos + o)));
    }
    for (let j = c4; j < C; j++) {
      const o = <usize>j << 2;
      store<f32>(y + o, load<f32>(tok + o) + load<f32>(pos + o));
    }
  }
}

// dwte[v] += sum of dout rows whose token is v, for vocabulary rows [vStart, vEnd).
// Splitting by vocabulary rows means no two callers add into the same row; rows
// are added in order, so the result does not depend on the split.
export function tokenEmbeddingBackward(dwte: usize, dout: usize, ids: usize, rows: i32, C: i32, vStart: i32, vEnd: i32): void {
  const rowBytes = <usize>C << 2;
  for (let i = 0; i < rows; i++) {
    const tok = load<i32>(ids + (<usize>i << 2));
    if (tok < vStart || tok >= vEnd) continue;
    addRow(dwte + <usize>tok * rowBytes, dout + <usize>i * rowBytes, C);
  }
}

// dwpe[t] += sum over the batch of dout[b, t], for positions [tStart, tEnd)
export function positionEmbeddingBackward(dwpe: usize, dout: usize, B: i32, T: i32, C: i32, tStart: i32, tEnd: i32): void {
  const rowBytes = <usize>C << 2;
  for (let t = tStart; t < tEnd; t++) {
    for (let b = 0; b < B; b++) {
      addRow(dwpe + <usize>t * rowBytes, dout + <usize>(b * T + t) * rowBytes, C);
    }
  }
}

function addRow(dst: usize, src: usize, C: i32): void {
  const c4 = C & ~3;
  for (let j = 0; j < c4; j += 4) {
    const o = <usize>j << 2;
    v128.store(dst + o, f32x4.add(v128.load(dst + o), v128.load(src + o)));
  }
  for (let j = c4; j < C; j++) {
    const o = <usize>j << 2;
    store<f32>(dst + o, load<f32>(dst + o) + load<f32>(src + o));
  }
}
