import { expect, it } from 'vitest';
import { ipSortKey } from '../../src/sources/decisions.js';
import { sortRows, type Column } from '../../src/web/components/data-table.js';

it('orders addresses numerically, IPv4 before IPv6, whatever way they are written', () => {
  const addresses = ['2001:db8::10', '192.0.2.1', '10.0.0.2', '2001:db8::9', '9.255.0.1', '::1', '2001:DB8:0:0:1::', '10.0.0.10'];
  const sorted = [...addresses].sort((a, b) => (ipSortKey(a) < ipSortKey(b) ? -1 : ipSortKey(a) > ipSortKey(b) ? 1 : 0));
  expect(sorted).toEqual(['9.255.0.1', '10.0.0.2', '10.0.0.10', '192.0.2.1', '::1', '2001:db8::9', '2001:db8::10', '2001:DB8:0:0:1::']);
  expect(ipSortKey('2001:db8::1')).toBe(ipSortKey('2001:0db8:0000:0000:0000:0000:0000:0001'));
});

it('sorts a table by a column\'s sort key when it has one, by its shown value otherwise', () => {
  const rows = [{ ip: '10.0.0.10' }, { ip: '9.0.0.1' }, { ip: '10.0.0.2' }];
  const byKey: Column<{ ip: string }>[] = [{ key: 'ip', label: 'Address', sortable: true, value: (r) => r.ip, sortKey: (r) => ipSortKey(r.ip) }];
  const byText: Column<{ ip: string }>[] = [{ key: 'ip', label: 'Address', sortable: true, value: (r) => r.ip }];
  const state = { sort: 'ip', dir: 'asc' as const, cursor: null };
  expect(sortRows(rows, byKey, state).map((r) => r.ip)).toEqual(['9.0.0.1', '10.0.0.2', '10.0.0.10']);
  expect(sortRows(rows, byKey, { ...state, dir: 'desc' }).map((r) => r.ip)).toEqual(['10.0.0.10', '10.0.0.2', '9.0.0.1']);
  expect(sortRows(rows, byText, state).map((r) => r.ip)).toEqual(['10.0.0.10', '10.0.0.2', '9.0.0.1']);
});
