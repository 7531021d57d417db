// Precision conversions (assembly/convert.ts), elementwise: fp32 to bf16 or fp16 rounds
// to nearest even (subnormals kept, overflow to infinity, NaN stays NaN); back is exact.
import { expectTensor, type Tensor } from '../engine/tensor.ts';
import { GRAIN_ELEMENTS, type OpContext } from './context.ts';

// out = inp in out's dtype; one of them f32, the other bf16 or f16
export function convert(ctx: OpContext, o: { out: Tensor; inp: Tensor }): void {
  expectTensor('convert: out', o.out, o.out.dtype, o.inp.shape);
  const kernel = o.inp.dtype === 'f32' ? (o.out.dtype === 'bf16' ? 'f32ToBf16' : o.out.dtype === 'f16' ? 'f32ToF16' : null)
    : o.out.dtype === 'f32' ? (o.inp.dtype === 'bf16' ? 'bf16ToF32' : o.inp.dtype === 'f16' ? 'f16ToF32' : null) : null;
  if (!kernel) throw new TypeError(`convert: no conversion from ${o.inp.dtype} to ${o.out.dtype}`);
  ctx.run(kernel, [o.out.offset, o.inp.offset], 0, o.inp.size, GRAIN_ELEMENTS);
}

// x = x rounded to the nearest value of `format` (still f32), in place: the bits a store
// in 16 bits and a load back would give, in one pass
export function roundTo(ctx: OpContext, x: Tensor, format: 'bf16' | 'f16'): void {
  expectTensor('roundTo: x', x, 'f32', x.shape);
  ctx.run(format === 'bf16' ? 'roundToBf16' : 'roundToF16', [x.offset], 0, x.size, GRAIN_ELEMENTS);
}
