/**
 * Types for smartcar-node 10.4 (the package ships none). Written from the package source; see
 * shared/reference/smartcar-sdk.md. Only what this project uses, exactly as the SDK returns it.
 */
declare module 'smartcar' {
  namespace smartcar {
    interface Meta {
      requestId?: string;
      unitSystem?: 'metric' | 'imperial';
      dataAge?: Date;
      fetchedAt?: Date;
    }

    interface Access {
      accessToken: string;
      refreshToken: string;
      /** now + expires_in, computed by the SDK when the answer arrived. */
      expiration: Date;
      /** now + 60 days, hard-coded by the SDK. */
      refreshExpiration: Date;
    }

    interface AuthClientOptions {
      clientId?: string;
      clientSecret?: string;
      redirectUri?: string;
      mode?: 'live' | 'test' | 'simulated';
    }

    interface AuthUrlOptions {
      forcePrompt?: boolean;
      state?: string;
      makeBypass?: string;
      singleSelect?: { vin?: string; enabled?: boolean };
      flags?: Record<string, string | boolean>;
      user?: string;
    }

    class AuthClient {
      constructor(options?: AuthClientOptions);
      getAuthUrl(scope?: string[], options?: AuthUrlOptions): string;
      exchangeCode(code: string, options?: { flags?: Record<string, string | boolean> }): Promise<Access>;
      exchangeRefreshToken(refreshToken: string, options?: { flags?: Record<string, string | boolean> }): Promise<Access>;
    }

    class SmartcarError extends Error {
      name: 'SmartcarError';
      /** HTTP status of the response (inside a batch: the batch's own status, usually 200). */
      statusCode: number;
      type?: string;
      code?: string;
      description?: string;
      docURL?: string;
      detail?: unknown[];
      requestId?: string;
      /** Raw `retry-after` header, seconds. */
      retryAfter?: string;
      resolution?: { type: string | null; url?: string };
      suggestedUserMessage?: string;
    }

    interface Paging {
      limit?: number;
      offset?: number;
    }

    interface CommandResponse {
      status: string;
      message?: string;
      meta: Meta;
    }

    type WithMeta<T> = T & { meta: Meta };

    interface Attributes {
      id: string;
      make: string;
      model: string;
      year: number;
    }

    interface BatchResponse {
      [name: string]: (() => WithMeta<Record<string, unknown>>) | undefined;
    }

    class Vehicle {
      constructor(id: string, token: string, options?: { unitSystem?: 'metric' | 'imperial'; version?: string; flags?: Record<string, string> });
      id: string;
      token: string;
      attributes(): Promise<WithMeta<Attributes>>;
      vin(): Promise<WithMeta<{ vin: string }>>;
      odometer(): Promise<WithMeta<{ distance: number }>>;
      location(): Promise<WithMeta<{ latitude: number; longitude: number }>>;
      fuel(): Promise<WithMeta<{ range: number; percentRemaining: number; amountRemaining: number }>>;
      battery(): Promise<WithMeta<{ range: number; percentRemaining: number }>>;
      batteryCapacity(): Promise<WithMeta<{ capacity: number }>>;
      charge(): Promise<WithMeta<{ isPluggedIn: boolean; state: 'CHARGING' | 'FULLY_CHARGED' | 'NOT_CHARGING' }>>;
      engineOil(): Promise<WithMeta<{ lifeRemaining: number }>>;
      tirePressure(): Promise<WithMeta<{ frontLeft: number; frontRight: number; backLeft: number; backRight: number }>>;
      lockStatus(): Promise<WithMeta<{ isLocked: boolean; doors: { type: string; status: string }[] }>>;
      permissions(paging?: Paging): Promise<WithMeta<{ permissions: string[]; paging: { count: number; offset: number } }>>;
      lock(): Promise<CommandResponse>;
      unlock(): Promise<CommandResponse>;
      startCharge(): Promise<CommandResponse>;
      stopCharge(): Promise<CommandResponse>;
      getChargeLimit(): Promise<WithMeta<{ limit: number }>>;
      setChargeLimit(limit: number): Promise<CommandResponse>;
      disconnect(): Promise<WithMeta<{ status: string }>>;
      batch(paths: string[]): Promise<BatchResponse>;
      request(method: string, path: string, body?: object, headers?: Record<string, string>): Promise<{ body: unknown; meta: Meta }>;
    }

    function getUser(accessToken: string): Promise<WithMeta<{ id: string }>>;
    function getVehicles(accessToken: string, paging?: Paging): Promise<WithMeta<{ vehicles: string[]; paging: { count: number; offset: number } }>>;
    /** Lower-hex HMAC-SHA256 of `challenge` keyed with the Application Management Token (a webhook's VERIFY answer). */
    function hashChallenge(amt: string, challenge: string): string;
    function setApiVersion(version: string): void;
    function getApiVersion(): string;
  }
  export = smartcar;
}
