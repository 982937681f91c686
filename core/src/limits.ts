/** Limits shared by the API, the widget and the catalogue checker, so all refuse the same inputs. */
export const LIMITS = {
  /** Largest upload accepted, in bytes. */
  maxBodyBytes: 25 * 1024 * 1024,
  /** Largest decoded image accepted, in pixels (width x height); guards against decompression bombs. */
  maxPixels: 64_000_000,
  /** Largest side of a decoded image, in pixels. */
  maxSide: 16_384,
  /** Smallest side that still holds enough detail to judge. */
  minSide: 8,
} as const;
