import { INPUT_SIZE } from '@blankspot/core';
import { tf } from './backend.js';
import type { Examples } from './datasets/build.js';

const PIXELS = INPUT_SIZE * INPUT_SIZE;

/** Copies the chosen examples into one batch tensor [n,64,64,1] and its labels. */
export function gatherBatch(ex: Examples, indices: ArrayLike<number>): { x: tf.Tensor4D; y: tf.Tensor1D } {
  const n = indices.length;
  const images = new Float32Array(n * PIXELS);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const j = indices[i];
    images.set(ex.images.subarray(j * PIXELS, (j + 1) * PIXELS), i * PIXELS);
    labels[i] = ex.labels[j];
  }
  return { x: tf.tensor4d(images, [n, INPUT_SIZE, INPUT_SIZE, 1]), y: tf.tensor1d(labels, 'int32') };
}
