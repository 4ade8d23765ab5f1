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

diesel::joinable!(events -> programs (program_id));
diesel::joinable!(reports -> events (event_id));
diesel::joinable!(resources -> vens (ven_id));
diesel::joinable!(resource_targets -> resources (resource_id));
diesel::joinable!(ven_targets -> vens (ven_id));
diesel::joinable!(sites -> vens (ven_id));
diesel::joinable!(enrollments -> sites (site_id));
diesel::joinable!(enrollments -> programs (program_id));
diesel::joinable!(telemetry -> sites (site_id));

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
);
