// Token + learned position embedding: out [B, T, C] = dropout(wte[ids] + wpe[:T]).
import type { Tensor } from '../engine/tensor.ts';
import type { OpContext } from '../ops/context.ts';
import { embeddingForward, tokenEmbeddingBackward, positionEmbeddingBackward } from '../ops/embedding.ts';
import { dropout } from '../ops/elementwise.ts';
import type { DropoutMask } from '../ops/random.ts';
import { weight, type Bound, type F32, type LayerSpec, type ParamDecl } from './layer.ts';

export interface EmbeddingSpec extends LayerSpec {
  params: { wte: ParamDecl; wpe: ParamDecl };
  saved: Record<string, never>;
  scratch: Record<string, never>;
  dropout: { out: string };
}

export function embeddingSpec(vocabSize: number, blockSize: number, C: number): EmbeddingSpec {
  return {
    name: 'embedding',
    params: { wte: weight('wte', [vocabSize, C]), wpe: weight('wpe', [blockSize, C]) },
    saved: {},
    scratch: {},
    dropout: { out: 'drop' },
  };
}

// out [B, T, C]; ids [B, T]
export function embeddingLayerForward(ops: OpContext, e: Bound<EmbeddingSpec>, out: F32, ids: Tensor<'i32'>, mask: DropoutMask): void {
  embeddingForward(ops, { out, ids, wte: e.params.wte.value, wpe: e.params.wpe.value });
  if (mask.threshold) dropout(ops, { out, inp: out }, mask);
}

// dout [B, T, C] (dropout's mask applied to it in place)
export function embeddingLayerBackward(ops: OpContext, e: Bound<EmbeddingSpec>, dout: F32, ids: Tensor<'i32'>, mask: DropoutMask): void {
  if (mask.threshold) dropout(ops, { out: dout, inp: dout }, mask);
  tokenEmbeddingBackward(ops, { dwte: e.params.wte.grad, dout, ids });
  positionEmbeddingBackward(ops, { dwpe: e.params.wpe.grad, dout });
}
