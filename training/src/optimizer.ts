/**
 * SGD and Adam over the weights as plain arrays, the same update as tfjs's optimizers (Adam: beta1
 * 0.9, beta2 0.999, epsilon 1e-7, bias-corrected moments).
 *
 * Why not tf.train.adam: it updates each weight tensor with fourteen ops a step (six tensors of a cnn:
 * 84 ops, half of a step's op count), and on native TensorFlow each op is a round trip into the
 * library that costs more than the arithmetic of these few thousand weights. Here a step reads each
 * gradient once, updates in one loop, and writes each weight tensor back once.
 */
import { tf } from './backend.js';

export type OptimizerKind = 'sgd' | 'adam';

const BETA1 = 0.9;
const BETA2 = 0.999;
const EPSILON = 1e-7;

export class ArrayOptimizer {
  /** The weights, in variable order, as the last step left them (also in the variables). */
  readonly values: Float32Array[];
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];
  private steps = 0;

  constructor(
    private readonly kind: OptimizerKind,
    public learningRate: number,
    private readonly variables: tf.Variable[],
  ) {
    this.values = variables.map((x) => Float32Array.from(x.dataSync() as Float32Array));
    this.m = this.values.map((x) => new Float32Array(x.length));
    this.v = this.values.map((x) => new Float32Array(x.length));
  }

  /** One step from gradient sums over `count` examples (their mean is the gradient), in variable order. */
  step(gradientSums: ArrayLike<number>[], count: number): void {
    this.steps++;
    const lr = this.learningRate;
    const scale = 1 / count;
    const correct1 = 1 - BETA1 ** this.steps;
    const correct2 = 1 - BETA2 ** this.steps;
    this.values.forEach((w, i) => {
      const g = gradientSums[i];
      if (g.length !== w.length) throw new Error(`gradient ${i} has ${g.length} values, its weights ${w.length}`);
      if (this.kind === 'sgd') {
        for (let j = 0; j < w.length; j++) w[j] -= lr * g[j] * scale;
      } else {
        const m = this.m[i];
        const v = this.v[i];
        for (let j = 0; j < w.length; j++) {
          const gj = g[j] * scale;
          m[j] = BETA1 * m[j] + (1 - BETA1) * gj;
          v[j] = BETA2 * v[j] + (1 - BETA2) * gj * gj;
          w[j] -= (lr * (m[j] / correct1)) / (Math.sqrt(v[j] / correct2) + EPSILON);
        }
      }
      const variable = this.variables[i];
      const next = tf.tensor(w, variable.shape, 'float32');
      variable.assign(next);
      next.dispose();
    });
  }
}
