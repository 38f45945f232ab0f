import { parseFault } from '../../../src/simulator/faults';
import { parseScope } from '../../../src/simulator/permissions';
import * as readings from '../../../src/simulator/readings';
import { MAX_GENERATED_VEHICLES, userFor } from '../../../src/simulator/world';

describe('world', () => {
  test('the same username always yields the same account and cars; names are case-insensitive', () => {
    const a = userFor('Someone+2@Example.com');
    const b = userFor('  someone+2@example.com ');
    expect(a).toEqual(b);
    expect(a.vehicles).toHaveLength(2);
    expect(new Set(a.vehicles.map((v) => v.id)).size).toBe(2);
    expect(userFor('someone-else@example.com').vehicles[0]!.id).not.toBe(a.vehicles[0]!.id);
  });

  test('fixed accounts have the documented cars', () => {
    expect(userFor('family@example.com').vehicles.map((v) => `${v.make} ${v.model}`)).toEqual(['FORD F-150', 'NISSAN Leaf', 'TOYOTA RAV4 Prime']);
    expect(userFor('fleet@example.com').vehicles).toHaveLength(12);
    expect(userFor('mixed@example.com').vehicles.map((v) => v.fault)).toEqual([null, 'ASLEEP', 'RATE_LIMITED', 'UPSTREAM_DOWN', 'NOT_CAPABLE']);
  });

  test('tags shape generated accounts', () => {
    expect(userFor('x+ev+3@example.com').vehicles.map((v) => v.powertrain)).toEqual(['BEV', 'BEV', 'BEV']);
    expect(userFor('x+fuel@example.com').vehicles[0]!.powertrain).toBe('ICE');
    expect(userFor('x+asleep+2@example.com').vehicles.map((v) => v.fault)).toEqual(['ASLEEP', 'ASLEEP']);
    expect(userFor('x+999@example.com').vehicles).toHaveLength(MAX_GENERATED_VEHICLES);
    expect(userFor('x+mixed@example.com').vehicles).toHaveLength(5);
  });

  test('VINs are 17 characters without I, O or Q', () => {
    for (const v of userFor('fleet@example.com').vehicles) expect(v.vin).toMatch(/^[A-HJ-NPR-Z0-9]{17}$/);
  });
});

describe('readings', () => {
  const ev = userFor('driver@example.com').vehicles[0]!;
  const fuelCar = userFor('family@example.com').vehicles[0]!;
  const state = readings.initialVehicleState();
  const t0 = Date.UTC(2026, 10, 29, 12);

  test('the odometer only grows, about 20 to 60 km a day', () => {
    const a = readings.odometerKm(ev, t0);
    const b = readings.odometerKm(ev, t0 + 86_400_000);
    expect(b - a).toBeGreaterThanOrEqual(20);
    expect(b - a).toBeLessThanOrEqual(60);
  });

  test('battery and fuel stay within 0..1 over two weeks, and the battery charges at night', () => {
    const states = new Set<string>();
    for (let t = t0; t < t0 + 14 * 86_400_000; t += 1_800_000) {
      const b = readings.battery(ev, state, t, 'metric');
      const f = readings.fuel(fuelCar, t, 'metric');
      for (const p of [b.percentRemaining, f.percentRemaining]) {
        expect(p).toBeGreaterThanOrEqual(0);
        expect(p).toBeLessThanOrEqual(1);
      }
      states.add(readings.chargeStatus(ev, state, t).state);
    }
    expect([...states].sort()).toEqual(['CHARGING', 'FULLY_CHARGED', 'NOT_CHARGING']);
  });

  test('imperial units convert distance, volume and pressure', () => {
    expect(readings.odometer(ev, t0, 'imperial').distance).toBeCloseTo(readings.odometerKm(ev, t0) / 1.609344, 0);
    const l = readings.fuel(fuelCar, t0, 'metric').amountRemaining;
    expect(readings.fuel(fuelCar, t0, 'imperial').amountRemaining).toBeCloseTo(l / 3.785, 0);
    expect(readings.tirePressure(ev, t0, 'imperial').frontLeft).toBeCloseTo(readings.tirePressure(ev, t0, 'metric').frontLeft * 0.145, 0);
  });

  test('data age trails the fetch by less than a minute', () => {
    const age = readings.dataAge(ev, t0).getTime();
    expect(age).toBeLessThanOrEqual(t0);
    expect(t0 - age).toBeLessThan(60_000);
  });
});

describe('parsing', () => {
  test('scope: space-separated, optional required: prefix, unknown names reported', () => {
    expect(parseScope('required:read_vehicle_info read_odometer read_odometer')).toEqual({ scopes: ['read_vehicle_info', 'read_odometer'], required: ['read_vehicle_info'] });
    expect(parseScope('read_vehicle_info read_mind')).toEqual({ unknown: 'read_mind' });
  });

  test('faults are validated', () => {
    expect(parseFault({ target: 'token', mode: 'error', status: 503, count: 2 })).toEqual({ target: 'token', mode: 'error', status: 503, count: 2 });
    expect(parseFault({ target: 'moon', mode: 'error' })).toMatch(/target/);
    expect(parseFault({ target: 'api', mode: 'error', status: 200 })).toMatch(/status/);
    expect(parseFault(null)).toMatch(/target/);
  });
});
