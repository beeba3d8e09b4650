// Starts the cache-tests suite's origin server on 127.0.0.1 only (the suite's own
// script listens on every interface).
//
//   npm_config_port=PORT npm_config_pidfile=FILE node serve.mjs SUITE_DIR

import http from 'http'
import path from 'path'
import { pathToFileURL } from 'url'

const listen = http.Server.prototype.listen
http.Server.prototype.listen = function (port, ...rest) {
  if (typeof port === 'number' || typeof port === 'string') {
    return listen.call(this, Number(port), '127.0.0.1', ...rest)
  }
  return listen.call(this, port, ...rest)
}

process.env.npm_config_protocol ??= 'http'
await import(pathToFileURL(path.join(process.argv[2], 'test-engine/server/server.mjs')).href)
