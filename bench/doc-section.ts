/** Writes one benchmark's section into docs/benchmarks.md, replacing the section of that heading. */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const doc = fileURLToPath(new URL("../docs/benchmarks.md", import.meta.url));

/** `section` starts with its "## " heading line; the section runs to the next "## " heading. */
export function writeSection(section: string): void {
  const heading = section.slice(0, section.indexOf("\n"));
  let text = readFileSync(doc, "utf8");
  const start = text.indexOf(heading);
  if (start >= 0) {
    const end = text.indexOf("\n## ", start + 1);
    text = text.slice(0, start) + section.trimEnd() + (end >= 0 ? `\n\n${text.slice(end + 1)}` : "\n");
  } else {
    text = `${text.trimEnd()}\n\n${section.trimEnd()}\n`;
  }
  writeFileSync(doc, text);
}
