/**
 * A JPEG's luma read in the DCT domain. The DC coefficient of each 8x8 block of the Y component is
 * 8 x (the block's mean luma - 128), and JPEG's Y is Rec.601 luma, the very grey the model takes. So
 * the means of all blocks come from the entropy-coded data alone: no inverse DCT, no chroma, no colour
 * conversion, no full-size pixels. A 12-megapixel photo becomes 188k block means.
 *
 * For a product's frame finer than the blocks (a 128x128 input from a frame under 1024 px) a block's
 * four 4x4 quarters are read instead: a quarter's mean is exact from the coefficients whose frequencies are
 * 0 or odd in both directions (the even ones average to zero over half a block), 25 of the 64, still
 * without an inverse DCT. For a frame under 512 px (an object of a shot of several things) the sixteen
 * 2x2 cells of each block are read the same way, from the 49 coefficients whose frequencies are not 4
 * (frequency 4 averages to zero over every pair of pixels). Baseline JPEGs only: a progressive one spreads
 * those coefficients over refinement scans, and where cells finer than blocks are wanted it is decoded
 * in full (the same input whatever the encoder chose).
 *
 * Written by hand because no JavaScript decoder stops at the DC coefficients, and the same code must
 * run in Node, in Workers and in browsers so all three give the same model input. It covers the JPEGs
 * cameras and the web make (8-bit Huffman, baseline or progressive, greyscale or YCbCr, restart
 * markers) and answers null for anything else (arithmetic coding, lossless, 12-bit, CMYK, RGB JPEGs,
 * damaged or truncated data), which the caller then decodes in full.
 */

export { jpegLumaBlockMeans, jpegLumaPairMeans, jpegLumaQuarterMeans, jpegScanIndex } from './read.js';
export { blockMeansCover, blockMeansMinSide, frameCellSide, jpegToInput } from './to-input.js';
export type { BlockRead, JpegBlockMeans, JpegLumaCells, JpegScanIndex, LumaCellSide } from './types.js';
