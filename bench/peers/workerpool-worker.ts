/** workerpool's worker: the same plain tasks, registered by name. */
import workerpool from 'workerpool';
import { add, cpu, work } from '../plain-tasks.js';

workerpool.worker({ add, cpu, work });
