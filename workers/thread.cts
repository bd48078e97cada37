/**
 * The file Piscina loads in each thread: CommonJS, which imports the ES
 * module entry. Piscina first require()s its file, and on Node 20.19+ that
 * require() of an ES module entry takes the experimental require(esm) path,
 * which has aborted the whole process (a V8 fatal error, "IsGraphAsync")
 * when a thread was terminated while loading. Piscina awaits what this
 * exports: the function each job runs.
 */
export = import('./entry.js').then((entry) => entry.default);
