/** Bundles the `etcd-ts` command into one file (see bundle-cli.mjs). */
export function bundleCli(esbuild: typeof import("esbuild"), paths: { entry: string; outfile: string; serverPath: string }): Promise<void>;
