/** A worker thread of `jpeg-pool.ts`. */
import { jpegToInput, type Framing } from '@blankspot/core';

export default function readJpeg({
  bytes,
  orientation,
  framing,
  size,
}: {
  bytes: Uint8Array;
  orientation: number;
  framing: Framing;
  size: number;
}) {
  return jpegToInput(bytes, orientation, framing, size);
}
