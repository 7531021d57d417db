// What a layer declares about itself, once: its parameters (name, shape, init, decay),
// the activations it saves for its backward pass, the scratch its backward needs, and
// its dropout sites. The parameter layout, the memory plan and the float64 test
// reference are all derived from these declarations (src/model/gpt-spec.ts lists them).
import type { Tensor } from '../engine/tensor.ts';

export type F32 = Tensor<'f32'>;
export type Shape = readonly number[];

export type InitKind = 'normal' | 'residual' | 'ones' | 'zeros';

// A parameter: its Hugging Face GPT-2 name, shape, initialization (normal: N(0, 0.02);
// residual: N(0, 0.02 / sqrt(2 nLayer)), for projections into the residual stream), and
// whether AdamW decays it (2-D weights only). All parameters are f32 for now.
export interface ParamDecl {
  name: string;
  shape: Shape;
  init: InitKind;
  decay: boolean;
}

// A layer's declaration. Parameters by role (null: not in this configuration, e.g. a
// bias with --no-bias); saved activations and backward scratch as shapes at the model's
// capacity (R = batch x blockSize rows). Scratch is shared by all layers (one layer runs
// at a time); saved activations are each layer's own.
export interface LayerSpec {
  name: string;
  params: Record<string, ParamDecl | null>;
  saved: Record<string, Shape>;
  scratch: Record<string, Shape>;
  dropout: Record<string, string>; // role -> site name (see src/model/dropout.ts)
}

// A parameter bound to the model's flat buffers: its value and its gradient.
export interface Param {
  value: F32;
  grad: F32;
  // in bf16/fp16 training: the step's 16-bit copy of value, which the matmuls read
  matmulWeight?: Tensor;
}

type BoundParams<P> = { [K in keyof P]: P[K] extends ParamDecl ? Param : Param | null };
type BoundBuffers<S> = { [K in keyof S]: F32 };

// A declaration with its tensors: what a layer's forward and backward take.
export interface Bound<L extends LayerSpec> {
  spec: L;
  params: BoundParams<L['params']>;
  saved: BoundBuffers<L['saved']>;
  scratch: BoundBuffers<L['scratch']>;
}

export function paramDecls(spec: LayerSpec): ParamDecl[] {
  return Object.values(spec.params).filter((p): p is ParamDecl => p !== null);
}

export function weight(name: string, shape: Shape, init: 'normal' | 'residual' = 'normal'): ParamDecl {
  return { name, shape, init, decay: true };
}

export function gain(name: string, shape: Shape): ParamDecl {
  return { name, shape, init: 'ones', decay: false };
}

export function bias(name: string, shape: Shape, present: boolean): ParamDecl | null {
  return present ? { name, shape, init: 'zeros', decay: false } : null;
}
