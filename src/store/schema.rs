//! Diesel table definitions, identical for both backends (the migrations under `migrations/sqlite` and
//! `migrations/postgres` create the same columns; a test checks they agree).

diesel::table! {
    programs (id) {
        id -> Text,
        program_name -> Text,
        body -> Text,
        targets -> Nullable<Text>,
        targeted -> Bool,
        created_date_time -> Timestamp,
        modification_date_time -> Timestamp,
    }
}

diesel::table! {
    program_targets (program_id, target) {
        program_id -> Text,
        target -> Text,
    }
}

diesel::table! {
    events (id) {
        id -> Text,
        program_id -> Text,
        event_name -> Nullable<Text>,
        priority -> Nullable<BigInt>,
        body -> Text,
        targets -> Nullable<Text>,
        targeted -> Bool,
        ends_at -> Nullable<Timestamp>,
        created_date_time -> Timestamp,
        modification_date_time -> Timestamp,
    }
}

diesel::table! {
    event_targets (event_id, target) {
        event_id -> Text,
        target -> Text,
    }
}

diesel::table! {
    reports (id) {
        id -> Text,
        event_id -> Text,
        client_id -> Text,
        client_name -> Text,
        report_name -> Nullable<Text>,
        body -> Text,
        created_date_time -> Timestamp,
        modification_date_time -> Timestamp,
    }
}

diesel::table! {
    subscriptions (id) {
        id -> Text,
        client_id -> Text,
        client_name -> Text,
        program_id -> Nullable<Text>,
        body -> Text,
        created_date_time -> Timestamp,
        modification_date_time -> Timestamp,
        business_logic -> Bool,
        from_seq -> BigInt,
    }
}

diesel::table! {
    subscription_objects (subscription_id, object_type) {
        subscription_id -> Text,
        object_type -> Text,
    }
}

diesel::table! {
    vens (id) {
        id -> Text,
        ven_name -> Text,
        client_id -> Text,
        body -> Text,
        targets -> Nullable<Text>,
        created_date_time -> Timestamp,
        modification_date_time -> Timestamp,
    }
}

diesel::table! {
    ven_targets (ven_id, target) {
        ven_id -> Text,
        target -> Text,
    }
}

diesel::table! {
    resources (id) {
        id -> Text,
        ven_id -> Text,
        client_id -> Text,
        resource_name -> Text,
        body -> Text,
        targets -> Nullable<Text>,
        created_date_time -> Timestamp,
        modification_date_time -> Timestamp,
    }
}

diesel::table! {
    resource_targets (resource_id, target) {
        resource_id -> Text,
        target -> Text,
    }
}

diesel::table! {
    clients (client_id) {
        client_id -> Text,
        client_name -> Text,
        role -> Text,
        secret_hash -> Text,
        created_date_time -> Timestamp,
        previous_secret_hash -> Nullable<Text>,
        previous_valid_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    server_secrets (name) {
        name -> Text,
        value -> Text,
        created_date_time -> Timestamp,
    }
}

diesel::table! {
    changes (seq) {
        seq -> BigInt,
        object_type -> Text,
        operation -> Text,
        object_id -> Text,
        program_id -> Nullable<Text>,
        event_id -> Nullable<Text>,
        owner_client_id -> Nullable<Text>,
        body -> Text,
        targets -> Nullable<Text>,
        created_date_time -> Timestamp,
        modification_date_time -> Timestamp,
        recorded_at -> Timestamp,
    }
}

diesel::table! {
    notifications (id) {
        id -> Text,
        change_seq -> BigInt,
        subscription_id -> Text,
        client_id -> Text,
        callback_url -> Text,
        bearer_token -> Nullable<Text>,
        object_type -> Text,
        operation -> Text,
        object_id -> Text,
        program_id -> Nullable<Text>,
        event_id -> Nullable<Text>,
        payload -> Text,
        state -> Text,
        attempts -> Integer,
        created_at -> Timestamp,
        next_attempt_at -> Timestamp,
        first_attempt_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
        last_status -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        channel -> Text,
    }
}

diesel::table! {
    callback_health (callback_url) {
        callback_url -> Text,
        consecutive_failures -> Integer,
        broken -> Bool,
        last_success_at -> Nullable<Timestamp>,
        last_failure_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    sites (id) {
        id -> Text,
        site_name -> Text,
        ven_id -> Text,
        kind -> Text,
        max_import_mw -> Text,
        meter_id -> Nullable<Text>,
        location -> Nullable<Text>,
        latitude -> Nullable<Double>,
        longitude -> Nullable<Double>,
        time_zone -> Text,
        created_date_time -> Timestamp,
        modification_date_time -> Timestamp,
    }
}

diesel::table! {
    enrollments (id) {
        id -> Text,
        site_id -> Text,
        program_id -> Text,
        shed_mw -> Text,
        load_up_mw -> Text,
        firm_service_level_mw -> Nullable<Text>,
        notice -> Text,
        ramp -> Text,
        max_event_duration -> Nullable<Text>,
        max_events -> Nullable<Integer>,
        max_events_period -> Nullable<Text>,
        availability -> Text,
        offer_price -> Text,
        starts_at -> Timestamp,
        ends_at -> Nullable<Timestamp>,
        created_date_time -> Timestamp,
        modification_date_time -> Timestamp,
    }
}

diesel::table! {
    telemetry (seq) {
        seq -> BigInt,
        site_id -> Text,
        report_id -> Text,
        event_id -> Text,
        resource_name -> Text,
        payload_type -> Text,
        reading_type -> Nullable<Text>,
        start_at -> Timestamp,
        end_at -> Nullable<Timestamp>,
        server_timed -> Bool,
        value -> Nullable<Double>,
        unit -> Nullable<Text>,
        state -> Nullable<Text>,
        quality -> Nullable<Text>,
        received_at -> Timestamp,
    }
}

diesel::table! {
    report_rejects (report_id) {
        report_id -> Text,
        site_id -> Text,
        skipped -> Integer,
        problems -> Text,
        received_at -> Timestamp,
    }
}

diesel::table! {
    dispatches (id) {
        id -> Text,
        program_id -> Text,
        direction -> Text,
        target_mw -> Text,
        planned_mw -> Text,
        shortfall_mw -> Text,
        starts_at -> Timestamp,
        ends_at -> Timestamp,
        duration -> Text,
        response_time -> Nullable<Text>,
        payload_type -> Text,
        state -> Text,
        requested_by -> Text,
        skipped -> Text,
        created_date_time -> Timestamp,
        modification_date_time -> Timestamp,
    }
}

diesel::table! {
    dispatch_sites (dispatch_id, site_id) {
        dispatch_id -> Text,
        site_id -> Text,
        enrollment_id -> Text,
        event_id -> Text,
        merit_rank -> Integer,
        allocated_mw -> Text,
        reference_mw -> Text,
        level_mw -> Text,
    }
}

diesel::table! {
    event_seen (event_id, client_id) {
        event_id -> Text,
        client_id -> Text,
        seen_at -> Timestamp,
    }
}

diesel::table! {
    event_latency (event_id, site_id) {
        event_id -> Text,
        site_id -> Text,
        committed_mw -> Double,
        load_up -> Bool,
        event_start -> Timestamp,
        event_end -> Nullable<Timestamp>,
        notified_at -> Nullable<Timestamp>,
        notified_via -> Nullable<Text>,
        acked_at -> Nullable<Timestamp>,
        baseline_mw -> Nullable<Double>,
        t_ack_secs -> Nullable<Double>,
        t_start_secs -> Nullable<Double>,
        t10_secs -> Nullable<Double>,
        t50_secs -> Nullable<Double>,
        t90_secs -> Nullable<Double>,
        t100_secs -> Nullable<Double>,
        ramp_mw_per_min -> Nullable<Double>,
        sustain -> Nullable<Double>,
        snapback_mw -> Nullable<Double>,
        early_mw -> Nullable<Double>,
        max_reduction_mw -> Nullable<Double>,
        last_load_mw -> Nullable<Double>,
        last_load_at -> Nullable<Timestamp>,
        computed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    revocations (seq) {
        seq -> BigInt,
        subject -> Text,
        revoked_at -> Timestamp,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        at -> Timestamp,
        actor -> Text,
        actor_role -> Text,
        source -> Nullable<Text>,
        action -> Text,
        object_type -> Nullable<Text>,
        object_id -> Nullable<Text>,
        before_digest -> Nullable<Text>,
        after_digest -> Nullable<Text>,
        changed_fields -> Nullable<Text>,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    audit_seals (seal) {
        seal -> BigInt,
        first_position -> BigInt,
        last_id -> BigInt,
        ids -> Text,
        hashes -> Text,
        hash -> Text,
        sealed_at -> Timestamp,
    }
}

diesel::table! {
    /// PostgreSQL only: the ids of entries not sealed yet (queued by every append, `dialect::audit`).
    audit_unsealed (entry_id) {
        entry_id -> BigInt,
    }
}

diesel::joinable!(events -> programs (program_id));
diesel::table! {
    meter_imports (id) {
        id -> Text,
        format -> Text,
        file_name -> Nullable<Text>,
        readings -> BigInt,
        new_intervals -> BigInt,
        revised_intervals -> BigInt,
        unchanged_intervals -> BigInt,
        versions_written -> BigInt,
        imported_by -> Text,
        imported_at -> Timestamp,
    }
}

diesel::table! {
    meter_days (site_id, channel, source, day, version) {
        site_id -> Text,
        channel -> Text,
        source -> Text,
        day -> Text,
        version -> Integer,
        interval_secs -> Integer,
        meter_id -> Nullable<Text>,
        kwh -> Text,
        quality -> Text,
        import_id -> Text,
        imported_at -> Timestamp,
    }
}

diesel::table! {
    price_points (series, start_at) {
        series -> Text,
        start_at -> Timestamp,
        end_at -> Timestamp,
        price -> Text,
    }
}

diesel::table! {
    settlement_rules (program_id, version) {
        program_id -> Text,
        version -> Integer,
        rules -> Text,
        created_by -> Text,
        created_date_time -> Timestamp,
    }
}

diesel::table! {
    settlement_runs (id) {
        id -> Text,
        program_id -> Text,
        period_from -> Text,
        period_to -> Text,
        rule_version -> Integer,
        sites -> Integer,
        issued -> Integer,
        unchanged -> Integer,
        total -> Text,
        requested_by -> Text,
        created_date_time -> Timestamp,
    }
}

diesel::table! {
    statements (id) {
        id -> Text,
        run_id -> Text,
        program_id -> Text,
        site_id -> Text,
        period_from -> Text,
        period_to -> Text,
        version -> Integer,
        kind -> Text,
        supersedes -> Nullable<Text>,
        rule_version -> Integer,
        total -> Text,
        body -> Text,
        created_date_time -> Timestamp,
    }
}

diesel::joinable!(reports -> events (event_id));
diesel::joinable!(resources -> vens (ven_id));
diesel::joinable!(resource_targets -> resources (resource_id));
diesel::joinable!(ven_targets -> vens (ven_id));
diesel::joinable!(sites -> vens (ven_id));
diesel::joinable!(enrollments -> sites (site_id));
diesel::joinable!(enrollments -> programs (program_id));
diesel::joinable!(telemetry -> sites (site_id));
diesel::joinable!(dispatch_sites -> dispatches (dispatch_id));
diesel::joinable!(dispatch_sites -> sites (site_id));
diesel::joinable!(event_latency -> sites (site_id));
diesel::joinable!(meter_days -> sites (site_id));
diesel::joinable!(statements -> sites (site_id));

diesel::allow_tables_to_appear_in_same_query!(
    programs,
    program_targets,
    events,
    event_targets,
    reports,
    subscriptions,
    subscription_objects,
    vens,
    ven_targets,
    resources,
    resource_targets,
    clients,
    server_secrets,
    changes,
    notifications,
    callback_health,
    sites,
    enrollments,
    telemetry,
    report_rejects,
    dispatches,
    dispatch_sites,
    event_seen,
    event_latency,
    meter_imports,
    meter_days,
    price_points,
    settlement_rules,
    settlement_runs,
    statements,
    audit_log,
    audit_seals,
    audit_unsealed,
    revocations,
);
