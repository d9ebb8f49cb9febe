/**
 * gridllm's command line. The only place that reads process.env, handles signals and sets the
 * exit code.
 */
import { GridError } from '../util/errors.ts'
import { type Command, type CommandContext, UsageError, packageVersion } from './command.ts'
import { apiCommand } from './api.ts'
import { chatCommand } from './chat.ts'
import { creditsCommand } from './credits.ts'
import { demoCommand } from './demo.ts'
import { generateCommand } from './generate.ts'
import { quantizeCommand } from './quantize.ts'
import { relayCommand } from './relay.ts'
import { serveCommand } from './serve.ts'
import { swarmKeyCommand } from './swarm-key.ts'
import { PARENT_PIPE_ENV } from './supervise.ts'
import { statusCommand } from './status.ts'
import { webCommand } from './web.ts'

export const commands: readonly Command[] = [demoCommand, generateCommand, chatCommand, apiCommand, serveCommand, relayCommand, statusCommand, creditsCommand, webCommand, swarmKeyCommand, quantizeCommand]

function help (): string {
  const width = Math.max(...commands.map(c => c.name.length))
  return `gridllm ${packageVersion()}: LLM inference over a swarm of peers that each run a span of layers

Usage: gridllm <command> [options]

Commands:
${commands.map(c => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Run \`gridllm <command> --help\` for a command's options.
Set DEBUG=gridllm:* to see what is going on inside.
`
}

/** Runs the CLI and returns the exit status. */
export async function run (argv: string[], ctx: CommandContext): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    ctx.stdout.write(help())
    return name === undefined ? 2 : 0
  }
  if (name === '--version' || name === '-v') { ctx.stdout.write(`${packageVersion()}\n`); return 0 }
  const command = commands.find(c => c.name === name)
  if (command === undefined) {
    ctx.stderr.write(`gridllm: unknown command "${name}"\n\n${help()}`)
    return 2
  }
  try {
    return await command.run(rest, ctx)
  } catch (err) {
    if (err instanceof UsageError) {
      ctx.stderr.write(`gridllm ${command.name}: ${err.message}\n\n${err.usage ?? command.usage}`)
      return 2
    }
    if (err instanceof GridError) {
      if (err.code === 'ABORTED' && ctx.signal.aborted) return 130
      ctx.stderr.write(`gridllm ${command.name}: ${err.message} [${err.code}]\n`)
      if (ctx.env.DEBUG !== undefined && err.stack !== undefined) ctx.stderr.write(`${err.stack}\n`)
      return 1
    }
    // a bug, or an error from below that nobody classified: say so, with the stack to report
    ctx.stderr.write(`gridllm ${command.name}: unexpected error: ${(err as Error)?.message ?? String(err)}\n${(err as Error)?.stack ?? ''}\n`)
    return 1
  }
}

/** The process entry: wires signals, stdio and the exit code. */
export async function main (argv: string[]): Promise<void> {
  const controller = new AbortController()
  const stop = (): void => {
    if (controller.signal.aborted) process.exit(130) // a second Ctrl-C: leave now
    controller.abort(new Error('interrupted'))
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
  // a supervised child (gridllm demo's servers) stops when its parent is gone, even after kill -9
  if (process.env[PARENT_PIPE_ENV] === '1') {
    const orphaned = (): void => {
      if (controller.signal.aborted) return
      controller.abort(new Error('the parent process is gone'))
      setTimeout(() => process.exit(1), 10_000).unref()
    }
    process.stdin.on('end', orphaned).on('close', orphaned).on('error', orphaned).resume()
  }
  process.stdout.on('error', err => { if ((err as NodeJS.ErrnoException).code === 'EPIPE') process.exit(0) })
  const status = await run(argv, { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd(), signal: controller.signal })
  process.exitCode = status
  if (process.env[PARENT_PIPE_ENV] === '1') process.stdin.destroy()
  process.off('SIGINT', stop)
  process.off('SIGTERM', stop)
}
