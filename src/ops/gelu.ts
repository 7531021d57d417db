// GELU ops (assembly/gelu.ts), tanh approximation as GPT-2, elementwise.
import { expectTensor, type Tensor } from '../engine/tensor.ts';
import { GRAIN_ELEMENTS, type OpContext } from './context.ts';

// out = gelu(inp)
export function geluForward(ctx: OpContext, o: { out: Tensor; inp: Tensor }): void {
  expectTensor('geluForward: out', o.out, 'f32', o.inp.shape);
  ctx.run('geluForward', [o.out.offset, o.inp.offset], 0, o.inp.size, GRAIN_ELEMENTS);
}

// dinp = gelu'(inp) dout (overwritten; dinp may be dout)
export function geluBackward(ctx: OpContext, o: { dinp: Tensor; inp: Tensor; dout: Tensor }): void {
  expectTensor('geluBackward: dout', o.dout, 'f32', o.inp.shape);
  expectTensor('geluBackward: dinp', o.dinp, 'f32', o.inp.shape);
  ctx.run('geluBackward', [o.dinp.offset, o.inp.offset, o.dout.offset], 0, o.inp.size, GRAIN_ELEMENTS);
}
