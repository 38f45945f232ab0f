import { Arg, Args, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import { parseRedirect, type ConnectService } from '../connect/connect.service';
import type { GraphQLContext } from './context';
import { ConnectUrlArgs, ExchangeCodeArgs, ExchangeCodePayload, SessionTokenType } from './types';

@Resolver()
export class ConnectResolver {
  constructor(private readonly connect: ConnectService) {}

  @Query(() => String, { description: 'A Smartcar Connect URL with a state bound to this session (created when missing).' })
  connectUrl(@Ctx() ctx: GraphQLContext, @Args(() => ConnectUrlArgs) args: ConnectUrlArgs): Promise<string> {
    return this.connect.connectUrl(ctx.session, args);
  }

  @Mutation(() => SessionTokenType, { description: 'A new session; its token is also set as the `sid` cookie.' })
  async createSession(@Ctx() ctx: GraphQLContext): Promise<SessionTokenType> {
    const { token, session } = await ctx.session.create();
    return { token, expiresAt: new Date(session.expiresAt) };
  }

  @Mutation(() => ExchangeCodePayload, { description: 'Trades a Connect authorization code for tokens kept by the gateway.' })
  async exchangeCode(@Ctx() ctx: GraphQLContext, @Args(() => ExchangeCodeArgs) { code, state }: ExchangeCodeArgs): Promise<ExchangeCodePayload> {
    const ids = await this.connect.exchange(ctx.session, code, state);
    return { vehicles: ids.map((id) => ({ id })) };
  }

  @Mutation(() => ExchangeCodePayload, {
    description: 'Completes Connect from the whole URL it redirected to (API v2: its code; v3: its user_id), the state checked.',
  })
  async completeConnect(@Ctx() ctx: GraphQLContext, @Arg('redirectUrl', () => String) redirectUrl: string): Promise<ExchangeCodePayload> {
    const ids = await this.connect.complete(ctx.session, parseRedirect(redirectUrl));
    return { vehicles: ids.map((id) => ({ id })) };
  }
}
