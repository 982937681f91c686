/** A worker thread of `jpeg-pool.ts`. */
import { jpegToInput, type Framing, type Frames } from '@blankspot/core';

export default function readJpeg({
  bytes,
  orientation,
  framing,
  size,
  blockFrames,
}: {
  bytes: Uint8Array;
  orientation: number;
  framing: Framing;
  size: number;
  blockFrames?: Frames;
}) {
  return jpegToInput(bytes, orientation, framing, size, blockFrames);
}
