/** A rectangle: in model-input pixels (a heatmap's box, a training label) or in the photo's (a verdict's). */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}
