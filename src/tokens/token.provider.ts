import { AppError } from '../errors';
import type { Session } from '../session/session.store';
import type { TokenVault } from './token.vault';

/**
 * Lends a connection's access token to a Smartcar call. This is the seam where transparent refresh
 * lives (issue 4): today it only reads and opens the stored pair.
 */
export class TokenProvider {
  constructor(private readonly vault: TokenVault) {}

  async withAccessToken<T>(session: Session, connectionId: string, call: (accessToken: string) => Promise<T>): Promise<T> {
    const stored = await this.vault.read(session.hash, connectionId);
    if (!stored) {
      throw new AppError('RECONNECT_REQUIRED', 'This connection is gone. Connect the vehicle again.');
    }
    return call(stored.pair.accessToken);
  }
}
