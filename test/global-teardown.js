// Removes the run's temporary folder (global-setup.js).
const { rmSync } = require('node:fs');

module.exports = async () => {
  const dir = process.env.TTT_JEST_TMPDIR;
  if (dir) rmSync(dir, { recursive: true, force: true });
};
