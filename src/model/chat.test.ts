import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { before, describe, test } from 'node:test'
import { FALLBACK_CHAT_STOP, type ChatModel, renderChat } from './chat.ts'
import { openModel } from './open.ts'
import { type Tokenizer, createTokenizer } from './tokenizer/index.ts'

const STORIES = fileURLToPath(new URL('../../models/stories260K/stories260K.gguf', import.meta.url))

// ChatML, as Qwen and SmolLM2 use it
const CHATML = "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
// Llama 2 style: writes BOS itself and insists on alternating roles
const LLAMA2 = "{{ bos_token }}{% for m in messages %}{% if (m.role == 'user') != (loop.index0 % 2 == 0) %}" +
  "{{ raise_exception('roles must alternate user/assistant') }}{% endif %}" +
  "{% if m.role == 'user' %}{{ '[INST] ' + m.content + ' [/INST]' }}{% else %}{{ ' ' + m.content + eos_token }}{% endif %}{% endfor %}"

let tokenizer: Tokenizer
before(async () => {
  tokenizer = createTokenizer((await openModel(STORIES)).tokenizer!)
})
const model = (chatTemplate: string | undefined): ChatModel => ({ tokenizer, chatTemplate })

describe('renderChat', () => {
  test('no template: the documented role: content transcript, BOS from the tokenizer, turn stops', () => {
    const p = renderChat(model(undefined), [{ role: 'system', content: 'Be kind.' }, { role: 'user', content: 'Hi' }])
    assert.equal(p.text, 'system: Be kind.\nuser: Hi\nassistant:')
    assert.equal(p.addBos, true)
    assert.equal(p.native, false)
    assert.deepEqual(p.stop, FALLBACK_CHAT_STOP)
    const noPrompt = renderChat(model(''), [{ role: 'user', content: 'Hi' }], { addGenerationPrompt: false })
    assert.equal(noPrompt.text, 'user: Hi\n')
  })

  test('the model\'s own template (ChatML) with the generation prompt; no extra stops', () => {
    const p = renderChat(model(CHATML), [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello' }, { role: 'user', content: 'Story?' }])
    assert.equal(p.text, '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>user\nStory?<|im_end|>\n<|im_start|>assistant\n')
    assert.equal(p.native, true)
    assert.deepEqual(p.stop, [])
  })

  test('bos_token and eos_token are the tokenizer\'s; a template that writes BOS gets no second one', () => {
    const p = renderChat(model(LLAMA2), [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Yo' }, { role: 'user', content: 'More' }])
    assert.equal(p.text, '<s>[INST] Hi [/INST] Yo</s>[INST] More [/INST]')
    assert.equal(p.addBos, false)
    const ids = tokenizer.encode(p.text, { addBos: p.addBos })
    assert.equal(ids.filter(id => id === tokenizer.bos).length, 1, 'exactly one BOS')
    assert.equal(ids[0], tokenizer.bos)
  })

  test('a template that rejects the messages is a 400-class error naming messages', () => {
    assert.throws(() => renderChat(model(LLAMA2), [{ role: 'assistant', content: 'first' }]),
      (err: Error & { code?: string, param?: string }) => err.code === 'INVALID_ARGUMENT' && err.param === 'messages' && /alternate/.test(err.message))
    assert.throws(() => renderChat(model(undefined), []), { code: 'INVALID_ARGUMENT' })
  })

  test('a template that does not parse is a bad model file', () => {
    assert.throws(() => renderChat(model('{% for m in messages %}'), [{ role: 'user', content: 'x' }]), { code: 'BAD_MODEL_FILE' })
  })
})
