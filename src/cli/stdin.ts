/** Standard input read whole, as bytes (for `put KEY` without a value, as etcdctl reads it). */
export async function readStdin(input: NodeJS.ReadableStream = process.stdin): Promise<Buffer> {
  // A terminal has no value waiting: reading it would hang until ^D, so say what is missing instead.
  if ((input as { isTTY?: boolean }).isTTY) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  for await (const chunk of input) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}
