/**
 * Borrowing: text generated through the swarm, with tokenizer, embedding, head and sampling in
 * this tab and every block on the swarm's servers (with the native client's failover). The chat
 * box keeps a conversation (the model's chat template); `?prompt=` runs one raw completion.
 */
import { type ChatMessage, type Model, renderChat } from '../../src/model/index.ts'
import type { Tab } from '../node/tab.ts'
import { byId, h } from './dom.ts'

export interface CompletionRequest {
  readonly prompt: string
  readonly maxTokens?: number
  readonly temperature?: number
  readonly modelId?: string
}

/** Retries while the swarm is still assembling (no route yet, weights not announced yet). */
async function withRetries<T> (fn: () => Promise<T>, tries = 20): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn()
    } catch (err) {
      const code = (err as { code?: string }).code
      if (attempt >= tries || (code !== 'NO_ROUTE' && code !== 'WEIGHTS_UNAVAILABLE')) throw err
      await new Promise(resolve => setTimeout(resolve, 500))
    }
  }
}

async function modelFor (tab: Tab, modelId: string | undefined, onProgress?: (done: number, total: number) => void): Promise<Model> {
  return await withRetries(async () => await tab.model(modelId ?? await tab.defaultModel(), { onProgress }))
}

/** One completion of a raw prompt, streamed into #output; data-done="1" when finished. */
export async function runCompletion (tab: Tab, req: CompletionRequest): Promise<string> {
  const output = byId('output')
  output.dataset.done = '0'
  output.textContent = ''
  if (req.prompt !== '') byId('transcript').append(h('li', { class: 'user' }, req.prompt))
  const model = await modelFor(tab, req.modelId)
  const text = await withRetries(async () => {
    output.textContent = ''
    const gen = model.generate(req.prompt, { maxTokens: req.maxTokens, temperature: req.temperature ?? 0 })
    for await (const t of gen) output.textContent += t.text
    return gen.text
  }, 3)
  output.dataset.done = '1'
  return text
}

/** The chat box: a conversation rendered with the model's template, replies streamed into #output. */
export function setupChat (tab: Tab, options: { modelId?: string, onError: (err: unknown) => void }): void {
  const form = byId<HTMLFormElement>('chat-form')
  const input = byId<HTMLTextAreaElement>('prompt')
  const send = byId<HTMLButtonElement>('send')
  const transcript = byId('transcript')
  const output = byId('output')
  const messages: ChatMessage[] = []
  input.addEventListener('keydown', e => {
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); form.requestSubmit() }
  })
  form.addEventListener('submit', e => {
    e.preventDefault()
    const content = input.value.trim()
    if (content === '' || send.disabled) return
    send.disabled = true
    input.value = ''
    messages.push({ role: 'user', content })
    transcript.append(h('li', { class: 'user' }, content))
    output.dataset.done = '0'
    output.textContent = ''
    void (async () => {
      try {
        const model = await modelFor(tab, options.modelId)
        const chat = renderChat(model, messages)
        const gen = model.generate(chat.text, { addBos: chat.addBos, stop: chat.stop, maxTokens: 128, temperature: 0.7, topP: 0.9 })
        for await (const t of gen) output.textContent += t.text
        messages.push({ role: 'assistant', content: gen.text })
        transcript.append(h('li', { class: 'assistant' }, gen.text))
        output.textContent = ''
        output.dataset.done = '1'
      } catch (err) {
        messages.pop()
        options.onError(err)
      } finally {
        send.disabled = false
      }
    })()
  })
}
