/** Wire encodings of the AWS protocols the SDK speaks to the twin: awsJson1_1 and awsQuery. */
export class AwsError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(code: string, message: string, status = 400) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/** The framework-level constraint error (`1 validation error detected: …`) every JSON service sends. */
export function validationError(field: string, value: string, constraint: string): AwsError {
  return new AwsError(
    'ValidationException',
    `1 validation error detected: Value ${value} at '${field}' failed to satisfy constraint: ${constraint}`,
  );
}

const xmlEscape = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');

/** Query-protocol XML of a value: arrays as <member>, Dates as ISO 8601, undefined members left out. */
export function toXml(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value)) return value.map((v) => `<member>${toXml(v)}</member>`).join('');
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined && v !== null)
      .map(([k, v]) => `<${k}>${toXml(v)}</${k}>`)
      .join('');
  }
  return xmlEscape(String(value));
}

export function queryResponse(action: string, xmlns: string, result: unknown, requestId: string): string {
  const metadata = `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata>`;
  const body = `<${action}Result>${toXml(result)}</${action}Result>`;
  return `<${action}Response xmlns="${xmlns}">${body}${metadata}</${action}Response>`;
}

export function queryError(
  code: string,
  message: string,
  requestId: string,
  type: 'Sender' | 'Receiver' = 'Sender',
  xmlns = '',
): string {
  const ns = xmlns ? ` xmlns="${xmlns}"` : '';
  const what = `<Code>${xmlEscape(code)}</Code><Message>${xmlEscape(message)}</Message>`;
  const error = `<Error><Type>${type}</Type>${what}</Error>`;
  return `<ErrorResponse${ns}>${error}<RequestId>${requestId}</RequestId></ErrorResponse>`;
}

/** Epoch seconds with milliseconds, as the JSON protocols carry timestamps. */
export const epochSeconds = (ms: number) => Math.round(ms) / 1000;
