/** Colour only when the stream is a terminal (and NO_COLOR is unset): styleText checks both. */
import { styleText } from 'node:util';

type Format = Parameters<typeof styleText>[0];

export function styler(stream: NodeJS.WritableStream) {
  return (format: Format, text: string): string => styleText(format, text, { stream, validateStream: true });
}
