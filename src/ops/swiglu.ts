// SwiGLU gate ops (assembly/swiglu.ts), elementwise: out = silu(gate) * up.
import { expectTensor, type Tensor } from '../engine/tensor.ts';
import { GRAIN_ELEMENTS, type OpContext } from './context.ts';

// out = silu(gate) * up
export function swigluForward(ctx: OpContext, o: { out: Tensor; gate: Tensor; up: Tensor }): void {
  expectTensor('swigluForward: up', o.up, 'f32', o.gate.shape);
  expectTensor('swigluForward: out', o.out, 'f32', o.gate.shape);
  ctx.run('swigluForward', [o.out.offset, o.gate.offset, o.up.offset], 0, o.gate.size, GRAIN_ELEMENTS);
}

// dgate = dout up silu'(gate), dup = dout silu(gate) (overwritten; dgate may be gate,
// dup may be dout)
export function swigluBackward(ctx: OpContext, o: { dgate: Tensor; dup: Tensor; gate: Tensor; up: Tensor; dout: Tensor }): void {
  for (const [name, t] of [['dgate', o.dgate], ['dup', o.dup], ['up', o.up], ['dout', o.dout]] as const) {
    expectTensor(`swigluBackward: ${name}`, t, 'f32', o.gate.shape);
  }
  ctx.run('swigluBackward', [o.dgate.offset, o.dup.offset, o.gate.offset, o.up.offset, o.dout.offset], 0, o.gate.size, GRAIN_ELEMENTS);
}
