import { randomUUID } from 'node:crypto';
import express from 'express';

/** The baseline: a bare Express 5 endpoint that reads the same request and answers 202. Plain JavaScript, run by plain node, like Dispatch's compiled start. */
const app = express();
app.post('/hooks/:slug', express.raw({ type: () => true, limit: 10 * 1024 * 1024 }), (_req, res) => {
  res.status(202).json({ event_id: randomUUID() });
});
const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address();
  console.log(JSON.stringify({ msg: 'webhook listener ready', url: `http://127.0.0.1:${address.port}` }));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
