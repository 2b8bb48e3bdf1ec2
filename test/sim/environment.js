const { TestEnvironment } = require('jest-environment-node');

/**
 * jest's node environment, with the real process's events within reach: a test's `process` is a copy whose
 * listeners Node never calls, so an unhandled rejection in a simulated Lambda would pass unseen. The simulation
 * listens through `globalThis.processEvents` when it is there (test/sim/world.ts).
 */
class SimulationEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    this.global.processEvents = {
      on: (event, listener) => process.on(event, listener),
      off: (event, listener) => process.off(event, listener),
    };
  }
}

module.exports = SimulationEnvironment;
