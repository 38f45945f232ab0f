/**
 * Preloaded (`node --require`) into a process that must work offline: a connection to anything but
 * this machine's loopback throws, so the process fails loudly instead of quietly reaching a CDN.
 */
const net = require('node:net');

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;
const connect = net.Socket.prototype.connect;

net.Socket.prototype.connect = function (...args) {
  // net.connect() passes its normalised [options, callback] array; direct calls pass (options) or (port, host).
  const first = Array.isArray(args[0]) ? args[0][0] : args[0];
  const options = typeof first === 'object' && first !== null ? first : { port: first, host: args[1] };
  const host = options.host ?? 'localhost';
  if (!options.path && !LOOPBACK.test(host)) throw new Error(`offline: a connection to ${host} was attempted`);
  return connect.apply(this, args);
};
