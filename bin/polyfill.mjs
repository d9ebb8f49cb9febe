// libp2p 3 uses Promise.withResolvers, which Node 20 lacks (Node 22 has it).
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers () {
    let resolve, reject
    const promise = new this((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}

// @libp2p/websockets dials with the global WebSocket, which Node 20 lacks (Node 22 has it): native
// nodes dial WebSockets addresses too (a relay's, inside a tab's relayed address). Like the
// standard WebSocket (an EventTarget), an 'error' nobody listens to must not end the process: ws's
// is an EventEmitter, which throws one, e.g. a refused dial that libp2p had already given up on.
if (typeof globalThis.WebSocket !== 'function') {
  const { WebSocket } = await import('ws')
  globalThis.WebSocket = class extends WebSocket {
    constructor (...args) {
      super(...args)
      this.on('error', () => {})
    }
  }
}
