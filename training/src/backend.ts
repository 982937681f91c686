/**
 * Picks the fastest TensorFlow.js backend this machine has: the native TensorFlow bindings when a
 * user installed them (they cannot be installed everywhere, so they are optional and only loaded
 * if present), otherwise WASM with blankspot's training kernels, which make it correct and fast.
 */
// The union package, not tfjs-core alone: only its Node build registers the gradients, and it is
// the instance @tensorflow/tfjs-node plugs its backend into.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { installWasmTrainingKernels } from './wasm-kernels.js';
import { installNativeTrainingKernels } from './native-kernels.js';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

const NATIVE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'];

/** The native package that registered the tensorflow backend, or null when none is installed. */
async function tryNative(): Promise<string | null> {
  for (const name of NATIVE_PACKAGES) {
    try {
      await import(name);
      if (tf.findBackend('tensorflow') != null) return name;
    } catch {
      // Not installed: the next option is tried.
    }
  }
  return null;
}

/**
 * Sets the backend and waits until it is ready. 'auto' prefers native TensorFlow, then WASM.
 * 'cpu' is the plain JavaScript reference, used by tests as ground truth.
 */
let active: BackendName | null = null;

/** The backend useBackend() set, or null before it ran. */
export function activeBackend(): BackendName | null {
  return active;
}

export interface BackendOptions {
  /**
   * Set when training on this many threads. Every backend then takes its cores through worker threads
   * that share each batch (parallel.ts, train.ts' stepThreads), so native TensorFlow runs each op on
   * one thread of its own. TensorFlow reads this once, when it loads, so it only applies to the first
   * call; the caller's own TF_NUM_INTRAOP_THREADS wins. Without it TensorFlow sizes its own op pool
   * (export, evaluate).
   */
  threads?: number;
}

export async function useBackend(preferred: BackendName | 'auto' = 'auto', options: BackendOptions = {}): Promise<BackendName> {
  if (preferred === 'auto' || preferred === 'tensorflow') {
    if (options.threads != null) {
      // Worker threads share the batch; an op pool per thread would only compete for the same cores.
      process.env.TF_NUM_INTRAOP_THREADS ??= '1';
      process.env.TF_NUM_INTEROP_THREADS ??= '1';
    }
    // TensorFlow's start-up banner (oneDNN, CPU features) is noise on every CLI run.
    process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
    const native = await tryNative();
    if (native != null) {
      await tf.setBackend('tensorflow');
      installNativeTrainingKernels({ gpu: native.endsWith('-gpu') });
      return (active = 'tensorflow');
    }
    if (preferred === 'tensorflow') throw new Error('@tensorflow/tfjs-node(-gpu) is not installed');
  }
  const name = preferred === 'cpu' ? 'cpu' : 'wasm';
  if (name === 'wasm') installWasmTrainingKernels();
  if (!(await tf.setBackend(name))) throw new Error(`could not start the ${name} backend`);
  await tf.ready();
  return (active = name);
}

export { tf };
