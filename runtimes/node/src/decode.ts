/** Decoding on Node with sharp (libvips): EXIF orientation, first frame, any colour model, to 8-bit RGBA. */
import sharp from 'sharp';
import jpeg from 'jpeg-js';
import { BlankspotError, decodeCmykJpeg, isCmykJpeg, type ImageDecoder, type ImageInfo, type RgbaImage } from '@blankspot/core';
import { jpegToInputOnThreads } from './jpeg-pool.js';

// Uploads are never decoded twice: libvips' operation cache would only hold memory.
sharp.cache(false);

export function sharpDecoder(limits: { maxPixels: number }): ImageDecoder {
  return {
    jpegToInput: jpegToInputOnThreads,
    async decode(bytes: Uint8Array, info: ImageInfo): Promise<RgbaImage> {
      if (info.type === 'image/jpeg' && isCmykJpeg(bytes)) return decodeCmykJpeg(bytes, limits, jpeg.decode);
      try {
        const { data, info } = await sharp(bytes, {
          // A second guard after the header check: libvips refuses to decode more pixels than this.
          limitInputPixels: limits.maxPixels,
          failOn: 'error',
          animated: false,
        })
          .rotate()
          .toColourspace('srgb')
          .ensureAlpha()
          .raw({ depth: 'uchar' })
          .toBuffer({ resolveWithObject: true });
        if (info.channels !== 4) throw new Error(`unexpected ${info.channels} channels`);
        return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        if (/pixel limit/i.test(message)) throw new BlankspotError('IMAGE_TOO_LARGE', 'the image has more pixels than the limit');
        throw new BlankspotError('UNDECODABLE_IMAGE', 'the image cannot be decoded: it is damaged or truncated');
      }
    },
  };
}
