/**
 * DynamoDB update and condition expressions built from plain data, so none is joined by hand: every attribute gets a
 * `#name` placeholder (reserved words such as `status` need no care) and every value a generated `:vN` one. Pure: it
 * writes the request's expression fields, the caller sends them.
 */

/** The expression fields of a request, as DynamoDB takes them (no empty placeholder map: DynamoDB refuses those). */
export interface ExpressionFields {
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: Record<string, unknown>;
}

/** Collects the placeholders one request's expressions use. */
export class Placeholders {
  readonly #names: Record<string, string> = {};
  readonly #values: Record<string, unknown> = {};
  #valueCount = 0;

  name(attribute: string): string {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(attribute)) throw new Error(`Not an attribute name: ${attribute}`);
    this.#names[`#${attribute}`] = attribute;
    return `#${attribute}`;
  }

  value(value: unknown): string {
    const placeholder = `:v${this.#valueCount++}`;
    this.#values[placeholder] = value;
    return placeholder;
  }

  fields(): ExpressionFields {
    return {
      ...(Object.keys(this.#names).length > 0 ? { ExpressionAttributeNames: { ...this.#names } } : {}),
      ...(this.#valueCount > 0 ? { ExpressionAttributeValues: { ...this.#values } } : {}),
    };
  }
}

/** A condition, written with the placeholders of the request it is part of. */
export type Condition = (placeholders: Placeholders) => string;

export const exists =
  (attribute: string): Condition =>
  (p) =>
    `attribute_exists(${p.name(attribute)})`;

export const notExists =
  (attribute: string): Condition =>
  (p) =>
    `attribute_not_exists(${p.name(attribute)})`;

export const equals =
  (attribute: string, value: unknown): Condition =>
  (p) =>
    `${p.name(attribute)} = ${p.value(value)}`;

export const lessThan =
  (attribute: string, value: unknown): Condition =>
  (p) =>
    `${p.name(attribute)} < ${p.value(value)}`;

export const isIn =
  (attribute: string, values: readonly unknown[]): Condition =>
  (p) =>
    `${p.name(attribute)} IN (${values.map((value) => p.value(value)).join(', ')})`;

export const and =
  (...conditions: Condition[]): Condition =>
  (p) =>
    conditions.map((condition) => condition(p)).join(' AND ');

export const or =
  (...conditions: Condition[]): Condition =>
  (p) =>
    `(${conditions.map((condition) => condition(p)).join(' OR ')})`;

/** A condition alone (a Put's, a ConditionCheck's), or a filter. */
export function conditionOf(condition: Condition): { expression: string } & ExpressionFields {
  const placeholders = new Placeholders();
  const expression = condition(placeholders);
  return { expression, ...placeholders.fields() };
}

/** The ConditionExpression and placeholders of a Put, Delete or ConditionCheck. */
export function conditionFields(condition: Condition): { ConditionExpression: string } & ExpressionFields {
  const { expression, ...placeholders } = conditionOf(condition);
  return { ConditionExpression: expression, ...placeholders };
}

export interface UpdateSpec {
  /** Attributes to set; one whose value is `undefined` is removed, so items never keep a stale optional field. */
  readonly set?: Readonly<Record<string, unknown>>;
  /** Attributes set only when the item has none yet (the first write wins). */
  readonly setIfAbsent?: Readonly<Record<string, unknown>>;
  /** Numbers added to, or set members added. */
  readonly add?: Readonly<Record<string, unknown>>;
  readonly condition?: Condition;
}

/** The UpdateExpression, ConditionExpression and placeholders of an UpdateItem (or a transaction's Update). */
export function updateOf(
  spec: UpdateSpec,
): { UpdateExpression: string; ConditionExpression?: string } & ExpressionFields {
  const p = new Placeholders();
  const entries = Object.entries(spec.set ?? {});
  const set = [
    ...entries.filter(([, value]) => value !== undefined).map(([name, value]) => `${p.name(name)} = ${p.value(value)}`),
    ...Object.entries(spec.setIfAbsent ?? {}).map(
      ([name, value]) => `${p.name(name)} = if_not_exists(${p.name(name)}, ${p.value(value)})`,
    ),
  ];
  const removed = entries.filter(([, value]) => value === undefined).map(([name]) => p.name(name));
  const added = Object.entries(spec.add ?? {}).map(([name, value]) => `${p.name(name)} ${p.value(value)}`);
  const clauses = [
    ...(set.length > 0 ? [`SET ${set.join(', ')}`] : []),
    ...(removed.length > 0 ? [`REMOVE ${removed.join(', ')}`] : []),
    ...(added.length > 0 ? [`ADD ${added.join(', ')}`] : []),
  ];
  if (clauses.length === 0) throw new Error('An update that changes nothing');
  const condition = spec.condition?.(p);
  return {
    UpdateExpression: clauses.join(' '),
    ...(condition === undefined ? {} : { ConditionExpression: condition }),
    ...p.fields(),
  };
}
