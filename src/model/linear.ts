// A Linear map inside a layer (c_attn, c_proj, c_fc, the LM head): y = x W^T + b,
// W [out, in] as PyTorch's nn.Linear. The matmuls read W's 16-bit copy when it has one
// (bf16/fp16 training); its gradient is always fp32.
import type { OpContext } from '../ops/context.ts';
import { matmulForward, matmulBackwardInput, matmulBackwardWeights } from '../ops/matmul.ts';
import type { F32, Param } from './layer.ts';

// out [R, out] = x [R, in] W^T + b
// gelu: also gelu(out) there, in the matmul's epilogue (GPT-2's c_fc)
export function linearForward(ops: OpContext, w: Param, b: Param | null, out: F32, x: F32, gelu: F32 | null = null): void {
  matmulForward(ops, { out, inp: x, weight: w.matmulWeight ?? w.value, bias: b?.value ?? null, gelu });
}

// dW += dout^T x, db += the sum of dout's rows; then dx = dout W (overwritten, or added
// to with accumulateDx: an input that feeds two Linears, as SwiGLU's gate and up)
// geluInput: then dx = gelu'(geluInput) dx, in the matmul's epilogue (GPT-2's c_proj)
export function linearBackward(
  ops: OpContext, w: Param, b: Param | null, dx: F32, dout: F32, x: F32, accumulateDx = false, geluInput: F32 | null = null,
): void {
  matmulBackwardWeights(ops, { dweight: w.grad, dbias: b?.grad ?? null, dout, inp: x });
  matmulBackwardInput(ops, { dinp: dx, dout, weight: w.matmulWeight ?? w.value, accumulate: accumulateDx, geluInput });
}
