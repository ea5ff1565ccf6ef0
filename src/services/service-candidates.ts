import { sql, type Kysely } from 'kysely';
import type { DayPeriod } from '../analytics/period.js';
import type { DB } from '../db/schema.js';
import type { ServiceClues } from '../enrich/services.js';
import type { SourceRow } from '../reports/queries/sources.js';

export interface ServiceCandidate {
  row: SourceRow;
  /** Policy domains it sent as in the period. */
  domains: string[];
  /** What names its service: the forward-confirmed PTR, the ASN, the d= domains of passing signatures. */
  clues: ServiceClues;
}

/**
 * The organisation's sending addresses of a period, most messages first (at most `limit`), each with
 * its volume from the rollups and the clues its service is identified by: the enrichment cache's
 * PTR and ASN and the DKIM domains of its stored evidence. One statement; no record is read.
 */
export async function serviceCandidates(db: Kysely<DB>, orgId: number, period: DayPeriod, limit: number): Promise<ServiceCandidate[]> {
  const result = await sql<{
    source_ip: string;
    messages: number;
    dmarc_pass: number;
    none: number;
    quarantine: number;
    reject: number;
    domains: string[];
    first_day: string;
    last_day: string;
    ptr_host: string | null;
    ptr_confirmed: boolean | null;
    ptr_org_domain: string | null;
    asn: number | null;
    dkim_pass: string[];
  }>`
    with per_source as (
      select d.source_ip,
        sum(d.messages)::bigint as messages,
        coalesce(sum(d.messages) filter (where d.dkim_eval = 'pass' or d.spf_eval = 'pass'), 0)::bigint as dmarc_pass,
        coalesce(sum(d.messages) filter (where d.disposition = 'none'), 0)::bigint as none,
        coalesce(sum(d.messages) filter (where d.disposition = 'quarantine'), 0)::bigint as quarantine,
        coalesce(sum(d.messages) filter (where d.disposition = 'reject'), 0)::bigint as reject,
        array_agg(distinct d.policy_domain order by d.policy_domain) as domains,
        min(d.day)::text as first_day,
        max(d.day)::text as last_day
      from aggregate_daily d
      where d.org_id = ${orgId} and d.day >= ${period.fromDay}::date and d.day <= ${period.toDay}::date
      group by d.source_ip
      order by messages desc, d.source_ip
      limit ${limit}
    )
    select s.*, e.ptr_host, e.ptr_confirmed, e.ptr_org_domain, e.asn,
      array(
        select distinct x.value ->> 'domain'
        from source_evidence se cross join lateral jsonb_array_elements(se.dkim) x
        where se.org_id = ${orgId} and se.source_ip = s.source_ip and x.value ->> 'result' = 'pass'
      ) as dkim_pass
    from per_source s
    left join ip_enrichment e on e.ip = s.source_ip
    order by s.messages desc, s.source_ip`.execute(db);
  return result.rows.map((r) => {
    const messages = Number(r.messages);
    const dmarcPass = Number(r.dmarc_pass);
    const none = Number(r.none);
    const quarantine = Number(r.quarantine);
    const reject = Number(r.reject);
    // An unconfirmed PTR name is anyone's claim: it never names a service.
    const confirmed = r.ptr_confirmed === true;
    return {
      row: {
        sourceIp: String(r.source_ip),
        messages,
        dmarcPass,
        dmarcFail: messages - dmarcPass,
        dispositions: { none, quarantine, reject, other: messages - none - quarantine - reject },
        headerFrom: [],
        firstDay: r.first_day,
        lastDay: r.last_day,
      },
      domains: r.domains,
      clues: {
        ptrHost: confirmed ? r.ptr_host : null,
        ptrOrgDomain: confirmed ? r.ptr_org_domain : null,
        asn: r.asn === null ? null : Number(r.asn),
        dkimDomains: r.dkim_pass,
      },
    };
  });
}
