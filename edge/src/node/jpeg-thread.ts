/** A worker thread of `jpeg-pool.ts`. */
import { jpegToInput } from '@blankspot/core';

export default function readJpeg({ bytes, orientation }: { bytes: Uint8Array; orientation: number }) {
  return jpegToInput(bytes, orientation);
}
