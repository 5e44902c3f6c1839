// The registrations page: its JSON API is not written yet (see docs/operations.md).
import { h, main } from './api.js';

main().append(h('p', { class: 'muted' }, 'Not available yet: manage registrations with the dialroom command line for now.'));
