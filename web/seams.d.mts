import type { Plugin } from 'esbuild'
/** The esbuild plugin that gives a bundle the browser's side of every platform seam. */
export declare const browserSeams: Plugin
