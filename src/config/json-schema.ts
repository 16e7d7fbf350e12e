// The JSON Schema builders job-schema.ts uses, with TypeBox's names and its output, key for key
// (schema/job.schema.json did not change when they replaced it). TypeBox was used for nothing
// else, and loading it took 60-110 ms of every start: for a Kafka job, before its group join.
// Only what the job file's schema needs is here; an optional property is marked by a symbol, as
// TypeBox does, so that JSON.stringify leaves the mark out.

const OPTIONAL = Symbol('optional');

export type TSchema = { [key: string]: unknown; [OPTIONAL]?: true };
export type TProperties = Record<string, TSchema>;
export type TObject = TSchema & { type: 'object'; properties: TProperties; required?: string[] };

type Options = Record<string, unknown>;

/** Options first, then the schema's own keys (TypeBox's CreateType). */
const create = <S extends TSchema>(schema: S, options?: Options): S => (options === undefined ? schema : ({ ...options, ...schema } as S));

export const Type = {
  String: (options?: Options): TSchema => create({ type: 'string' }, options),
  Number: (options?: Options): TSchema => create({ type: 'number' }, options),
  Integer: (options?: Options): TSchema => create({ type: 'integer' }, options),
  Boolean: (options?: Options): TSchema => create({ type: 'boolean' }, options),
  Unknown: (options?: Options): TSchema => create({}, options),
  Literal: (value: string | number | boolean, options?: Options): TSchema => create({ const: value, type: typeof value }, options),
  Array: (items: TSchema, options?: Options): TSchema => create({ type: 'array', items }, options),
  Union: (types: TSchema[], options?: Options): TSchema => {
    if (types.length === 0) throw new Error('Type.Union: no types');
    return types.length === 1 ? create({ ...types[0] }, options) : create({ anyOf: types }, options);
  },
  Optional: <S extends TSchema>(schema: S): S => ({ ...schema, [OPTIONAL]: true }),
  Object: (properties: TProperties, options?: Options): TObject => {
    const required = Object.keys(properties).filter((k) => !properties[k][OPTIONAL]);
    return create(required.length > 0 ? { type: 'object' as const, required, properties } : { type: 'object' as const, properties }, options);
  },
  /** String keys (all, or those matching the key schema's pattern) to values of one schema. */
  Record: (key: TSchema, value: TSchema, options?: Options): TSchema => create({ type: 'object', patternProperties: { [typeof key.pattern === 'string' ? key.pattern : '^(.*)$']: value } }, options),
};
