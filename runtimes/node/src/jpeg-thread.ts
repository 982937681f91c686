/** A worker thread of `jpeg-pool.ts`: the core's block reader, on the arguments the pool passes. */
import { jpegToInput } from '@blankspot/core';
import type { JpegReadArgs } from './jpeg-pool.js';

export default function readJpeg({ bytes, orientation, framing, size, earlier }: JpegReadArgs) {
  return jpegToInput(bytes, orientation, framing, size, earlier);
}
