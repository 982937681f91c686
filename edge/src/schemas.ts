/** The API's shapes, once: they validate requests and generate /openapi.json. */
import { z } from '@hono/zod-openapi';
import { ALLOWED_IMAGE_TYPES, ERROR_STATUS, SENSITIVITIES } from '@blankspot/core';

export const CheckQuery = z.object({
  model: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9._-]+$/)
    .optional()
    .openapi({ description: 'Model name from GET /v1/models; the default model when omitted.', example: 'cnn-leaky' }),
  sensitivity: z
    .enum(SENSITIVITIES)
    .optional()
    .openapi({
      description:
        'How readily to flag. `balanced` (default) uses the model’s threshold, chosen on validation data for about 1% ' +
        'false alarms on clean product photos; `high` allows about 3% to catch more damage; `low` about 0.3%. ' +
        'The thresholds are in GET /v1/models.',
      example: 'balanced',
    }),
});

export const Box = z
  .object({ x: z.number(), y: z.number(), width: z.number(), height: z.number() })
  .openapi('Box', { description: 'The white rectangle, in the photo’s own pixels (after EXIF orientation).' });

export const CheckResult = z
  .object({
    flagged: z.boolean().openapi({ description: 'True when a white rectangle was found.' }),
    score: z.number().min(0).max(1).openapi({ description: 'Probability that a white rectangle was added.' }),
    threshold: z.number(),
    sensitivity: z.enum(SENSITIVITIES).openapi({ description: 'The sensitivity whose threshold decided `flagged`.' }),
    model: z.object({ name: z.string(), version: z.string() }),
    box: Box.nullable(),
    image: z.object({ type: z.enum(ALLOWED_IMAGE_TYPES), width: z.number().int(), height: z.number().int() }),
    looks: z
      .union([z.literal(1), z.literal(2)])
      .openapi({ description: 'Looks the model took: 2 when the first was suspect and the model’s closer look ran.' }),
    timings: z.object({ decodeMs: z.number(), preprocessMs: z.number(), inferenceMs: z.number(), totalMs: z.number() }),
    requestId: z.string(),
  })
  .openapi('CheckResult');

export const ErrorBody = z
  .object({
    error: z.object({
      code: z.enum(Object.keys(ERROR_STATUS) as [keyof typeof ERROR_STATUS, ...Array<keyof typeof ERROR_STATUS>]),
      message: z.string(),
      requestId: z.string().optional(),
    }),
  })
  .openapi('Error');

export const ModelInfo = z
  .object({
    name: z.string(),
    version: z.string(),
    default: z.boolean(),
    ready: z.boolean(),
    network: z.string(),
    protocol: z.string(),
    data: z.string(),
    threshold: z.number(),
    thresholds: z
      .object({ high: z.number(), balanced: z.number(), low: z.number() })
      .openapi({ description: 'The threshold at each sensitivity.' }),
    localises: z.boolean(),
    validationAccuracy: z.number(),
    sha256: z.string(),
  })
  .openapi('Model');

export const ModelList = z.object({ models: z.array(ModelInfo) }).openapi('ModelList');

export const Health = z
  .object({
    status: z.enum(['ok', 'degraded', 'unavailable']),
    runtime: z.string(),
    models: z.array(z.object({ name: z.string(), ready: z.boolean(), error: z.string().nullable() })),
    error: z.string().optional(),
  })
  .openapi('Health');
