/** A worker thread of `jpeg-pool.ts`. */
import { jpegToInput, type BlockRead, type Framing } from '@blankspot/core';

export default function readJpeg({
  bytes,
  orientation,
  framing,
  size,
  earlier,
}: {
  bytes: Uint8Array;
  orientation: number;
  framing: Framing;
  size: number;
  earlier?: BlockRead;
}) {
  return jpegToInput(bytes, orientation, framing, size, earlier);
}
