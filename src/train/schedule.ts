// nanoGPT's learning-rate schedule: linear warm-up, cosine decay to minLr, then flat.
export interface ScheduleConfig {
  lr: number;
  minLr: number;
  warmupIters: number;
  lrDecayIters: number;
}

export function learningRate(it: number, s: ScheduleConfig): number {
  if (it < s.warmupIters) return (s.lr * (it + 1)) / (s.warmupIters + 1);
  if (it > s.lrDecayIters) return s.minLr;
  const span = s.lrDecayIters - s.warmupIters;
  const ratio = span > 0 ? (it - s.warmupIters) / span : 1;
  const coeff = 0.5 * (1 + Math.cos(Math.PI * ratio)); // 1 -> 0
  return s.minLr + coeff * (s.lr - s.minLr);
}
