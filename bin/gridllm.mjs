#!/usr/bin/env node
// Entry point: load the Node 20 polyfill, let tsx compile TypeScript on the fly, run the CLI.
import './polyfill.mjs'
import { register } from 'tsx/esm/api'

register()
const { main } = await import('../src/cli/main.ts')
await main(process.argv.slice(2))
