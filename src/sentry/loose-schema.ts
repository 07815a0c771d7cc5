import { z } from 'zod';

/**
 * Loose schema pieces for Sentry payloads: a missing or wrong-typed value becomes undefined
 * instead of failing the parse, so one odd field never costs the others.
 */
/** Text; a number or boolean where text was expected is shown as text (Sentry's serializers are loose). */
export const optString = z.union([z.string(), z.number(), z.boolean()]).transform(String).optional().catch(undefined);
/** Sentry sends some numbers as strings (`count`), some ids as either. */
export const optNumberish = z
  .union([
    z.number(),
    z
      .string()
      .regex(/^-?\d+(\.\d+)?$/)
      .transform(Number),
  ])
  .optional()
  .catch(undefined);
export const optIdish = z
  .union([z.string(), z.number().transform(String)])
  .optional()
  .catch(undefined);
export const optBool = z.boolean().optional().catch(undefined);
export function loose<T extends z.ZodRawShape>(shape: T) {
  return z.looseObject(shape).optional().catch(undefined);
}
export function looseArray<T extends z.ZodType>(item: T) {
  // Items that do not fit are dropped one by one; the rest of the list survives.
  return z
    .array(z.unknown())
    .optional()
    .catch(undefined)
    .transform((items): z.output<T>[] | undefined =>
      items?.flatMap((value) => {
        const parsed = item.safeParse(value);
        return parsed.success && parsed.data !== undefined ? [parsed.data as z.output<T>] : [];
      }),
    )
    .optional();
}

/** Parses with a loose schema; never throws (a non-object payload gives an empty object). */
export function parseLoose<T extends z.ZodType>(schema: T, payload: unknown): NonNullable<z.output<T>> | Record<string, never> {
  const parsed = schema.safeParse(payload);
  return parsed.success && parsed.data ? (parsed.data as NonNullable<z.output<T>>) : {};
}
